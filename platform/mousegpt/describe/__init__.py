"""MouseGPT describers: kinematic facts (and, later, crops) in, five-field descriptions out."""

from mousegpt.describe.model import BehaviorModel, Description, load_model

__all__ = ["BehaviorModel", "Description", "load_model"]
