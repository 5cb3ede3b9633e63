"""sonolab.train"""
