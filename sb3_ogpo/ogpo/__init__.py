from sb3_ogpo.ogpo.ogpo import OGPO
from sb3_ogpo.ogpo.policies import MlpPolicy, MultiInputPolicy, OGPOPolicy

__all__ = ["OGPO", "MlpPolicy", "MultiInputPolicy", "OGPOPolicy"]
