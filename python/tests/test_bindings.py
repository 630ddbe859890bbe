"""The ctypes declarations in raiiaf/_lib.py agree with include/raiiaf.h:
every public function is declared, with the header's argument count and
types and return type, so the bindings cannot drift from the library."""

import ctypes
import os
import subprocess
import sys

import pytest

from conftest import ROOT
import header_protos

from raiiaf import _lib

HEADER = os.path.join(ROOT, "include", "raiiaf.h")
P = ctypes.POINTER

_STRUCTS = {"raiiaf_tensor_info": _lib.TensorInfo, "raiiaf_chunk_info": _lib.ChunkInfo, "raiiaf_recipe": _lib.Recipe,
            "raiiaf_drift_item": _lib.DriftItem, "raiiaf_signature_info": _lib.SignatureInfo,
            "raiiaf_array": _lib.Array, "raiiaf_index_stats": _lib.IndexStats,
            "raiiaf_index_query": _lib.IndexQuery}
_HANDLES = {"raiiaf_reader", "raiiaf_writer", "raiiaf_edit", "raiiaf_env", "raiiaf_drift", "raiiaf_import", "raiiaf_server",
            "raiiaf_index", "raiiaf_api"}
_SCALARS = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "size_t": ctypes.c_size_t, "double": ctypes.c_double,
            "uint32_t": ctypes.c_uint32, "uint64_t": ctypes.c_uint64,
            # enums are ints in the C ABI
            "raiiaf_dtype": ctypes.c_int, "raiiaf_codec": ctypes.c_int, "raiiaf_drift_kind": ctypes.c_int}
_CALLBACKS = {"raiiaf_problem_fn": _lib.PROBLEM_FN, "raiiaf_note_fn": _lib.NOTE_FN,
              "raiiaf_index_progress_fn": _lib.INDEX_PROGRESS_FN, "raiiaf_index_problem_fn": _lib.INDEX_PROBLEM_FN,
              "raiiaf_index_row_fn": _lib.INDEX_ROW_FN}


def accepted(ctype):
    """The ctypes types that may stand for C type `ctype` (a set)."""
    t = ctype.replace("const ", "").strip()
    if t == "void":
        return {None}
    if t in _SCALARS:
        return {_SCALARS[t]}
    if t in _CALLBACKS:
        return {_CALLBACKS[t]}
    if t.endswith("**"):
        return {P(ctypes.c_void_p), P(ctypes.c_char_p)}  # an out-pointer to a pointer
    if t.endswith("*"):
        base = t[:-1].strip()
        if base in ("char", "unsigned char"):
            return {ctypes.c_char_p, ctypes.c_void_p}
        if base == "void" or base in _HANDLES or base in ("float", "uint8_t"):  # pixel and latent arrays
            return {ctypes.c_void_p}
        if base in _SCALARS:
            return {P(_SCALARS[base])}
        if base in _STRUCTS:
            return {P(_STRUCTS[base])}
    raise AssertionError("the test does not know the C type %r: add it" % ctype)


def test_header_parses():
    protos = header_protos.parse(HEADER)
    assert len(protos) > 100
    assert protos["raiiaf_reader_read_tensor"] == ("int", ["raiiaf_reader *", "size_t", "void *", "size_t"])
    assert protos["raiiaf_writer_add_chunk"][1][1] == "const char *"  # const char type[4]


def test_every_function_is_declared():
    missing = sorted(set(header_protos.parse(HEADER)) - set(_lib._PROTOS))
    assert not missing, "include/raiiaf.h functions without a ctypes prototype in _lib.py: %s" % missing
    extra = sorted(set(_lib._PROTOS) - set(header_protos.parse(HEADER)))
    assert not extra, "_lib.py declares functions the header does not have: %s" % extra


@pytest.mark.parametrize("name", sorted(header_protos.parse(HEADER)))
def test_prototype_matches_header(name):
    ret, args = header_protos.parse(HEADER)[name]
    if name not in _lib._PROTOS:
        pytest.fail("%s is not declared in _lib.py" % name)
    restype, argtypes = _lib._PROTOS[name]
    assert len(argtypes) == len(args), "%s: header has %d parameters %s, _lib.py %d" % (
        name, len(args), args, len(argtypes))
    ok_ret = accepted(ret)
    # a returned const char * may be taken as c_void_p to read bytes with a length
    if ret.replace("const ", "") == "char *":
        ok_ret = ok_ret | {ctypes.c_void_p}
    assert restype in ok_ret, "%s returns %s in the header, %r in _lib.py" % (name, ret, restype)
    for i, (c, py) in enumerate(zip(args, argtypes)):
        assert py in accepted(c), "%s parameter %d is %s in the header, %r in _lib.py" % (name, i + 1, c, py)


def test_struct_fields_match_header():
    """The ctypes structures list the C structures' members in order."""
    import re
    text = open(HEADER, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    for cname, cls in _STRUCTS.items():
        m = re.search(r"typedef struct %s \{(.*?)\} %s;" % (cname, cname), text, re.S)
        assert m, cname
        members = [re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", d.strip())[0]
                   for d in m.group(1).split(";") if d.strip()]
        assert members == [f[0] for f in cls._fields_], "%s: header %s, _lib.py %s" % (
            cname, members, [f[0] for f in cls._fields_])


def test_older_library_is_refused(tmp_path):
    """A library older than the package needs is refused at import with a
    message saying what to do, instead of failing later in a call."""
    cc = next((c for c in ("cc", "gcc", "clang") if subprocess.call(["which", c], stdout=subprocess.DEVNULL) == 0), None)
    if cc is None:
        pytest.skip("no C compiler to build a stand-in library")
    src = tmp_path / "old.c"
    src.write_text("unsigned raiiaf_version_number(void) { return 100; }\n")
    so = tmp_path / "libold.so"
    subprocess.check_call([cc, "-shared", "-fPIC", "-o", str(so), str(src)])
    env = dict(os.environ, RAIIAF_LIBRARY=str(so), PYTHONPATH=os.path.join(ROOT, "python"))
    env.pop("LD_PRELOAD", None)
    p = subprocess.run([sys.executable, "-c", "import raiiaf"], env=env, capture_output=True, text=True)
    assert p.returncode != 0
    assert "needs 0.3.0 or newer" in p.stderr
