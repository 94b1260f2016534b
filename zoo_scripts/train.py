"""Train OGPO with RL Zoo, registering the algorithm explicitly (no start-up hook needed).

Same command-line interface as ``python -m rl_zoo3.train`` (e.g. ``python zoo_scripts/train.py --algo
ogpo --env AdroitHandDoor-v1``). Use it where the ``sb3_ogpo_zoo_hook.pth`` start-up hook is not
active: ``python -S``, a plain source checkout on ``PYTHONPATH`` without installation, or
``SB3_OGPO_ZOO_HOOK=0``. Like SBX's ``train_sbx.py``: register, then hand over to the zoo's ``train``.
"""

import os
import sys

if __name__ == "__main__":
    # A source checkout that is not installed: make `sb3_ogpo` importable from the repository root.
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    from sb3_ogpo.zoo import register

    register()

    from rl_zoo3.train import train

    train()
