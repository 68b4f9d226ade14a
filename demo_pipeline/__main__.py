import sys

from demo_pipeline.run import main

sys.exit(main())
