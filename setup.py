from setuptools import find_packages, setup

setup(
    name="sb3_ogpo",
    version="0.1.0",
    description="OGPO: off-policy generative policy optimization for Stable-Baselines3",
    packages=find_packages(include=["sb3_ogpo", "sb3_ogpo.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.3",
        "stable-baselines3>=2.9,<3",
        "gymnasium>=1.0",
        "numpy",
        "tqdm",
        "rich",
    ],
    extras_require={
        "tasks": [
            "gymnasium-robotics==1.4.2",
            "mujoco>=3.3,<3.12",
            "h5py",
            "minari==0.5.4",
        ],
        "zoo": ["rl_zoo3==2.9.2", "optuna", "requests", "pandas", "seaborn"],
        "tests": ["pytest", "pytest-timeout", "tensorboard"],
    },
)
