"""python -m pga_jax.data prepare --dataset=NAME [...]"""

import sys

from pga_jax.data.prepare import main

if __name__ == "__main__":
    sys.exit(main())
