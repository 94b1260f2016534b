from sb3_ogpo.dsrl.dsrl import DSRL
from sb3_ogpo.dsrl.dsrl_na import DSRLNA
from sb3_ogpo.dsrl.noise_env import NoiseActionWrapper

__all__ = ["DSRL", "DSRLNA", "NoiseActionWrapper"]
