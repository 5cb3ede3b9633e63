"""sonolab.audio"""
