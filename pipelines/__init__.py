from shared.startup import quiet_tensorflow

quiet_tensorflow()
