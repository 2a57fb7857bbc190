"""The wire breakdown of row 3 (`bench/hops.py`): ports to processes, segments to steps."""

from __future__ import annotations

import pytest

from bench import hops

# Local ports of each process's connections: (PostgreSQL, RabbitMQ).
PORTS = {"analyzer": (40001, 40002), "generator": (40011, 40012), "raw stage 1": (0, 40022)}
RAW2 = 40032


def _line(at_ms: float, sender: int, receiver: int, size: int) -> str:
    at = 1_700_000_000 + at_ms / 1000
    return f"{at:.6f} IP 127.0.0.1.{sender} > 127.0.0.1.{receiver}: tcp {size}"


def _owners() -> dict[int, str]:
    owners = {port: name for name, pair in PORTS.items() for port in pair if port}
    owners[RAW2] = "raw stage 2"
    return owners


def _analyzer_hop(t0: float, *, commit: bool = True) -> list[str]:
    pg, amqp = PORTS["analyzer"]
    lines = [
        _line(t0, 5672, amqp, 551),  # the delivery
        _line(t0 + 0.2, 5672, amqp, 21),  # a confirm of something earlier: not a delivery
        _line(t0 + 1.0, pg, 5432, 330),  # begin sent
        _line(t0 + 1.6, 5432, pg, 1083),  # begin answered
    ]
    if commit:
        lines += [
            _line(t0 + 2.4, pg, 5432, 2655),  # commit sent
            _line(t0 + 3.6, 5432, pg, 154),  # commit answered
            _line(t0 + 4.3, amqp, 5672, 1219),  # the next event published (and the ack)
            _line(t0 + 4.4, 5672, amqp, 21),  # its confirm
            _line(t0 + 5.9, 5672, PORTS["generator"][1], 1243),  # delivered to the generator
        ]
    return lines


def test_ss_lines_name_the_ports_of_the_given_processes_only() -> None:
    ss = "\n".join(
        [
            'ESTAB 0 0 127.0.0.1:40001 127.0.0.1:5432 users:(("python",pid=101,fd=14))',
            'ESTAB 0 0 127.0.0.1:5432 127.0.0.1:40001 users:(("postgres",pid=900,fd=9))',
            'ESTAB 0 0 127.0.0.1:40002 127.0.0.1:5672 users:(("python",pid=102,fd=7))',
            'ESTAB 0 0 127.0.0.1:40050 127.0.0.1:5672 users:(("python",pid=555,fd=7))',
            "ESTAB 0 0 127.0.0.1:40060 127.0.0.1:5672",
        ]
    )
    owners = hops.port_owners(ss, {"analyzer": [101], "gateway": [100, 102]})
    assert owners == {40001: "analyzer", 40002: "gateway"}


def test_segments_are_named_by_port_and_empty_ones_dropped() -> None:
    lines = [
        _line(0.0, 40001, 5432, 330),
        _line(0.5, 5432, 40001, 0),
        _line(1.0, 5672, 45000, 21),
        "tcpdump: listening on lo",
    ]
    segments = hops.parse(lines, _owners())
    assert [(s.sender, s.receiver, s.size) for s in segments] == [
        ("analyzer", hops.PG, 330),
        (hops.RABBIT, "port 45000", 21),
    ]
    assert segments[1].at - segments[0].at == pytest.approx(0.001, abs=1e-6)


def test_a_stage_hop_is_split_into_its_steps() -> None:
    segments = hops.parse(_analyzer_hop(0.0) + _analyzer_hop(50.0), _owners())
    steps = hops.stage_hops(segments, ["analyzer", "generator"])
    analyzer = steps["analyzer"]
    expected = dict(zip(hops.STEPS, [1.0, 0.6, 0.8, 1.2, 0.7, 1.6], strict=True))
    for step, ms in expected.items():
        assert analyzer[step] == pytest.approx([ms, ms], abs=1e-3), step
    assert analyzer["whole hop"] == pytest.approx([5.9, 5.9], abs=1e-3)
    assert not steps["generator"], "the generator sent nothing after its deliveries"


def test_a_delivery_whose_sequence_is_not_complete_is_left_out() -> None:
    lines = _analyzer_hop(0.0, commit=False) + _analyzer_hop(200.0)
    steps = hops.stage_hops(hops.parse(lines, _owners()), ["analyzer", "generator"])
    assert len(steps["analyzer"]["delivered → begin sent"]) == 1
    assert steps["analyzer"]["whole hop"] == pytest.approx([5.9], abs=1e-3)


def test_raw_chain_hops_and_the_table() -> None:
    raw1 = PORTS["raw stage 1"][1]
    lines = [
        _line(0.0, 5672, raw1, 389),
        _line(0.9, raw1, 5672, 344),
        _line(1.0, 5672, raw1, 21),
        _line(1.8, 5672, RAW2, 389),
        _line(2.8, RAW2, 5672, 344),
    ]
    raw = hops.raw_hops(hops.parse(lines, _owners()), ["raw stage 1", "raw stage 2"])
    assert raw["delivered → event published"] == pytest.approx([0.9, 1.0], abs=1e-3)
    assert raw["published → next stage delivered"] == pytest.approx([0.9], abs=1e-3)
    assert raw["whole hop"] == pytest.approx([1.8], abs=1e-3)

    stages = hops.stage_hops(hops.parse(_analyzer_hop(0.0), _owners()), ["analyzer", "generator"])
    text = hops.hop_table(stages, raw)
    header = "| p50 ms, wire to wire | analyzer | generator | raw aio-pika stage |"
    assert text.splitlines()[0] == header
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()[2:]}
    assert rows["commit: sent → answered"].startswith("| commit: sent → answered | 1.20 |  |")
    assert rows["whole hop"] == "| whole hop | 5.90 |  | 1.80 |"
    published = "commit answered → event published (raw: delivered → event published)"
    assert rows[published] == f"| {published} | 0.70 |  | 0.95 |"
