"""Installs the raiiaf Python package (pure Python; libraiiaf through ctypes).

    pip install --no-build-isolation ./python      (offline; Debian's setuptools)

When a build of the shared library is found (RAIIAF_LIBRARY, or
../build/libraiiaf.so, ../build-py/libraiiaf.so next to this folder), a copy
is bundled into the package, so the installed package works without
`make install`.  Without one, the package loads the system's libraiiaf.so.0.
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    env = os.environ.get("RAIIAF_LIBRARY")
    if env and os.path.exists(env):
        return env
    for d in ("build", "build-py"):
        p = os.path.join(HERE, "..", d, "libraiiaf.so")
        if os.path.exists(p):
            return p
    return None


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = find_library()
        dest = os.path.join(self.build_lib, "raiiaf")
        for old in glob.glob(os.path.join(dest, "libraiiaf.so*")):
            os.remove(old)
        if lib:
            # One real file named like the soname's target; the loader needs no symlinks.
            shutil.copyfile(os.path.realpath(lib), os.path.join(dest, "libraiiaf.so"))
            print("raiiaf: bundled %s" % os.path.realpath(lib))
        else:
            print("raiiaf: no libraiiaf build found; the installed package will use the system's")


setup(
    name="raiiaf",
    version="2.0.0",
    description="RAIIAF files (AI image + latents + generation record) through libraiiaf",
    packages=["raiiaf", "raiiaf.integrations", "raiiaf.integrations.comfyui"],
    python_requires=">=3.9",
    install_requires=["numpy"],  # Debian: python3-numpy
    extras_require={"image": ["Pillow"], "torch": ["torch"]},
    cmdclass={"build_py": BuildWithLibrary},
    zip_safe=False,
)
