"""Demo inference gateway: the fraud model behind POST /predict, with Prometheus metrics and JSON logs."""
