"""sonolab.data"""
