"""raiiaf.open on hostile files behaves as the CLI does (issue 17): the
library refuses a manifest that would parse into too many JSON values or
too much memory, before parsing, and Python sees LimitError."""

import os
import resource
import sys

import pytest

import raiiaf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
import hostile  # noqa: E402


def test_open_refuses_manifest_of_empty_objects(tmp_path):
    p = tmp_path / "objects.raiiaf"
    p.write_bytes(hostile.one_manifest_file(hostile.empty_objects(1_200_000)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(raiiaf.LimitError) as ei:
        raiiaf.open(str(p))
    assert "JSON text would need more than 256 MiB once parsed (limit" in str(ei.value)
    # the refusal comes before jansson builds anything (~300 MB otherwise)
    if "LD_PRELOAD" not in os.environ:  # not under ASan
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 128 * 1024


def test_open_refuses_manifest_of_many_values(tmp_path):
    p = tmp_path / "brackets.raiiaf"
    p.write_bytes(hostile.one_manifest_file([("raw", b"[" + b"0," * 2_200_000 + b"0]")]))
    with pytest.raises(raiiaf.LimitError) as ei:
        raiiaf.open(str(p))
    assert "JSON text holds more than 2097152 values (limit" in str(ei.value)


def test_read_refuses_past_the_decode_budget(tmp_path):
    data, budget = hostile.over_budget_file()
    p = tmp_path / "big.raiiaf"
    p.write_bytes(data)
    f = raiiaf.open(str(p))
    with pytest.raises(raiiaf.LimitError) as ei:
        f.latent("big")
    assert "would pass this reader's budget of %d decoded bytes" % budget in str(ei.value)
