"""`python -m services.cli`: the same as the `autodeploy` command."""

from __future__ import annotations

from services.cli.main import main

raise SystemExit(main())
