"""ROS-free trajectory prediction: GRU encoder-decoder, training, evaluation and the runtime predictor."""
