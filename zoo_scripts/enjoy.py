"""Run a trained OGPO agent with RL Zoo, registering the algorithm explicitly (no start-up hook needed).

Same command-line interface as ``python -m rl_zoo3.enjoy`` (e.g. ``python zoo_scripts/enjoy.py --algo
ogpo --env AdroitHandDoor-v1 -f logs/``). See ``zoo_scripts/train.py`` for when to use it.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    from sb3_ogpo.zoo import register

    register()

    from rl_zoo3.enjoy import enjoy

    enjoy()
