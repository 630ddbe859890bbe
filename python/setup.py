"""Installs the raiiaf Python package (Python over libraiiaf through ctypes).

    python3 -m venv --system-site-packages venv
    venv/bin/pip install ./python            (offline: Debian 12's pip, setuptools, wheel)
    venv/bin/pip wheel ./python -w dist

The package carries its own copy of libraiiaf.so: unless RAIIAF_LIBRARY names
a build to bundle, this script configures the repository root (the folder
above this one) with CMake in a private build folder under setuptools'
build_temp, builds only the shared library target and copies it into the
package.  The C dependencies (Debian's -dev packages, see
scripts/bootstrap.sh) must be installed; the resulting wheel links against
them, so it is for this platform only (README: "Wheels for other platforms").
"""

import glob
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build_library(build_temp):
    """Builds libraiiaf.so from ROOT with CMake; returns its path."""
    if not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")):
        raise SystemExit("raiiaf: %s has no CMakeLists.txt; install from the repository's "
                         "python/ folder, or set RAIIAF_LIBRARY to a built libraiiaf.so" % ROOT)
    if shutil.which("cmake") is None:
        raise SystemExit("raiiaf: building libraiiaf needs cmake (Debian: apt install cmake), "
                         "or set RAIIAF_LIBRARY to a built libraiiaf.so")
    # A folder of its own, kept between runs so a rebuild is incremental.
    bdir = os.path.join(os.path.abspath(build_temp), "libraiiaf")
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(min(len(os.sched_getaffinity(0)), 8))
    # Tests off: they are not built; only the `raiiaf` target is built below,
    # so the CLI, benches and static library are configured but never compiled.
    subprocess.check_call(["cmake", "-S", ROOT, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release",
                           "-DRAIIAF_TESTS=OFF", "-DRAIIAF_SANITIZE=OFF", "-DRAIIAF_FUZZ=OFF"])
    subprocess.check_call(["cmake", "--build", bdir, "--target", "raiiaf", "-j", jobs])
    lib = os.path.join(bdir, "libraiiaf.so")
    if not os.path.exists(lib):
        raise SystemExit("raiiaf: CMake finished but %s is missing" % lib)
    return lib


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = os.environ.get("RAIIAF_LIBRARY")
        if lib and not os.path.exists(lib):
            raise SystemExit("raiiaf: RAIIAF_LIBRARY=%s does not exist" % lib)
        if not lib:
            lib = build_library(self.get_finalized_command("build").build_temp)
        dest = os.path.join(self.build_lib, "raiiaf")
        for old in glob.glob(os.path.join(dest, "libraiiaf.so*")):
            os.remove(old)
        # One real file; the package loads it by path, so no soname symlinks are needed.
        shutil.copyfile(os.path.realpath(lib), os.path.join(dest, "libraiiaf.so"))
        print("raiiaf: bundled %s" % os.path.realpath(lib))


class BinaryDistribution(Distribution):
    # The bundled libraiiaf.so is machine code: the wheel must carry a
    # platform tag (not py3-none-any) and install into platlib.
    def has_ext_modules(self):
        return True


cmdclass = {"build_py": BuildWithLibrary}
try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        # The library is called through ctypes, not the CPython ABI: one wheel
        # serves every Python 3 on this platform (py3-none-linux_x86_64).
        def get_tag(self):
            return ("py3", "none", super().get_tag()[2])

    cmdclass["bdist_wheel"] = PlatformWheel
except ImportError:  # no wheel package: pip falls back to `setup.py install`
    pass


setup(
    name="raiiaf",
    version="2.0.0",
    description="RAIIAF files (AI image + latents + generation record) through libraiiaf",
    packages=["raiiaf", "raiiaf.integrations", "raiiaf.integrations.comfyui"],
    python_requires=">=3.9",
    install_requires=["numpy"],  # Debian: python3-numpy
    extras_require={"image": ["Pillow"], "torch": ["torch"]},
    cmdclass=cmdclass,
    distclass=BinaryDistribution,
    zip_safe=False,
)
