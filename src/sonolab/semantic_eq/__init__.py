"""sonolab.semantic_eq"""
