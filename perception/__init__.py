"""What the networks see and where they run: featurizers (observations -> network inputs, see
:mod:`perception.featurizers`), frozen encoders, and device management."""
