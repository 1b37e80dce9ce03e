import sys

from local_runner.cli import main

sys.exit(main())
