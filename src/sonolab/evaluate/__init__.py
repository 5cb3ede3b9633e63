"""sonolab.evaluate"""
