"""The FER2013 facial-expression classifiers: the 2017 net and a VGG-style one."""

from __future__ import annotations

import keras
from keras import layers, regularizers

from networks.models import BuildArgs, ModelSpec, scaled_image_input


def emotion_cnn_classic(args: BuildArgs) -> keras.Model:
    """The 2017 FER2013 net: conv 5x5x32, pool, conv 3x3x64, pool, dense 256, softmax; L2."""
    l2 = regularizers.L2(1e-4)
    inp, x = scaled_image_input(args)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=l2)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs", kernel_regularizer=l2)(
        x
    )
    return keras.Model(inp, out, name="emotion-cnn-classic")


def emotion_cnn(args: BuildArgs) -> keras.Model:
    """Four conv blocks 32-64-128-256 with batch norm, dropout and flip/shift/zoom augmentation.

    Sized (about 33M multiply-adds per face) so a default run fits an hour on two CPU cores.
    Dropout is light because heavier dropout left the net underfitting (training accuracy no
    better than validation); the README gives the runs.
    """
    inp, x = scaled_image_input(args)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.RandomTranslation(0.1, 0.1, fill_mode="nearest")(x)
    x = layers.RandomZoom(0.1, fill_mode="nearest")(x)
    for i, filters in enumerate((32, 64, 128, 256)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        if i:
            x = layers.Dropout(0.05 * i)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="emotion-cnn")


SPECS = (
    ModelSpec(
        "emotion-cnn-classic",
        "fer2013",
        "2017 FER2013 net: conv 32-64, dense 256, L2",
        emotion_cnn_classic,
        epochs=8,
        batch_size=128,
        lr=0.001,
    ),
    ModelSpec(
        "emotion-cnn",
        "fer2013",
        "VGG-style conv net, batch norm, augmentation (FER2013 best)",
        emotion_cnn,
        epochs=18,
        batch_size=64,
        lr=0.002,
        decay=0.02,
    ),
)
