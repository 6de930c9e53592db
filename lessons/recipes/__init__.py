"""Each hour's default experiment as plain TrainConfigs (no streamlit), shared by its page and its test."""
