from sb3_ogpo.bon_sft.bon_sft import BestOfNSFT

__all__ = ["BestOfNSFT"]
