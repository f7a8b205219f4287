"""``python -m flo_twilio.cli``: the ``flo`` command."""

import sys

from flo_twilio.cli.main import main

sys.exit(main())
