"""sonolab.models"""
