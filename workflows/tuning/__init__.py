"""`hostbench tune`: measured llama.cpp settings for one model on this machine.

`tuner.tune` runs the search (`search`, over the candidates of `knobs`, each measured by
`measure`) and stores a tuned profile (profiles.tuned); `identity` decides whether a
tuned profile still describes this machine when `hostbench launch` considers it.
"""
