"""Central training pipeline: data, Keras models, TFLite conversion, thresholds, evaluation, reports."""
