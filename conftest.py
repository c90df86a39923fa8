"""Settings for the whole test suite. Notebook kernels started by nbval inherit this environment."""

import os

# Notebook 06 races models for LATENTSEG_BUDGET_S seconds each (60 for readers); under the tests a
# short budget keeps the suite fast and still runs every line. The README holds the full numbers.
os.environ.setdefault("LATENTSEG_BUDGET_S", "20")
