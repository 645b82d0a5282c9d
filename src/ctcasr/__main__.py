"""`python -m ctcasr ...` is the `ctcasr` command."""

import sys

from ctcasr.cli import main

sys.exit(main())
