"""Every trainable model, registered by name in ``--list`` order.

The model modules only define their specs; this is the one module that imports them all and
registers them, so the commands (``networks.train``, ``networks.predict``, the benchmark) look
models up here and no model module depends on another's import order.
"""

from __future__ import annotations

from perception.hardware import import_tensorflow

# The model modules import Keras: start TensorFlow first, without its C++ start-up lines
# (``networks.train --list`` and ``networks.predict`` reach TensorFlow through here).
import_tensorflow()

from networks import (  # noqa: E402
    autoencoders,
    emotion_models,
    imdb,
    language_model,
    mnist_models,
    text,  # noqa: F401  (registers the imdb and ptb datasets the text models train on)
)
from networks.models import ModelSpec  # noqa: E402
from networks.registry import Registry  # noqa: E402

MODELS: Registry[ModelSpec] = Registry("model", hint="; see --list")
#: Add a model; look one up by name (an unknown name is a one-line UsageError).
register_model = MODELS.register
get_model_spec = MODELS.lookup

for _spec in (
    *mnist_models.FEEDFORWARD,
    *emotion_models.SPECS,
    *autoencoders.SPECS,
    *mnist_models.RECURRENT,
    *imdb.SPECS,
    *language_model.SPECS,
):
    register_model(_spec)
