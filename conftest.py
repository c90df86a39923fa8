"""Settings for the whole test suite. Notebook kernels started by nbval inherit this environment."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))  # the tests' stand-in data (tests/standins.py)

# Every notebook trains for a number of steps. 07 and 10 read LATENTSEG_STEPS, and the suite runs fewer;
# the others run exactly what a reader runs. CI's later passes (tools/test-colab-env, tools/check-claims)
# set LATENTSEG_LEARNER_STEPS=1 to run the learner's steps everywhere. Notebooks 02, 03 and 04 share one
# trained model through cached_fit, whose cache lives under $LATENTSEG_DATA (set below to a fresh
# folder): 02 trains it, the others read it.
if not os.environ.get("LATENTSEG_LEARNER_STEPS"):
    os.environ.setdefault("LATENTSEG_STEPS", "250")


def pytest_configure(config):
    # Notebook 08 shows Oxford-IIIT Pet from $LATENTSEG_DATA (it trains on the nuclei stack). The suite
    # never downloads: it writes a small stand-in in the same layout and points the variable there, so
    # the notebook runs the loader a reader runs, on different pictures.
    from standins import write_pets_layout

    folder = tempfile.mkdtemp(prefix="latentseg-data-")
    write_pets_layout(folder, num_trainval=40, num_test=10)
    config._latentseg_data = folder
    os.environ["LATENTSEG_DATA"] = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_latentseg_data", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
