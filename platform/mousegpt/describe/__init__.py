"""MouseGPT describers: kinematic facts (and, later, crops) in, five-field descriptions out.

Importing the package imports each backend module, and each registers its describers with
``model.register_describer``: ``load_model`` then knows them all. The backends keep their heavy
imports (torch, transformers, ray) until a describer is loaded.
"""

from mousegpt.describe import hf, kinematic, served, tiny  # noqa: F401  (they register their describers)
from mousegpt.describe.model import BehaviorModel, Description, load_model, register_describer

__all__ = ["BehaviorModel", "Description", "load_model", "register_describer"]
