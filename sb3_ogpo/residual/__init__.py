from sb3_ogpo.residual.residual_env import ResidualActionWrapper
from sb3_ogpo.residual.residual_sac import ResidualSAC

__all__ = ["ResidualActionWrapper", "ResidualSAC"]
