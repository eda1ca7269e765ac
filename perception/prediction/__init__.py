"""ROS-free trajectory prediction: GRU encoder-decoder, training and the runtime predictor."""
