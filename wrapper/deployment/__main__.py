import sys

from wrapper.deployment.generator import main

sys.exit(main())
