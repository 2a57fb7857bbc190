"""The gateway's routes, one ``APIRouter`` module per area; ``create_app`` includes them."""
