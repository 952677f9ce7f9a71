"""The shared wing of the stages: plumbing that several papers use, apart from the per-paper stage files.

common (params, threads, seeds in parallel, atomic writes), run (the stage runner), data (offline data sets and the
full profile's loaders), train (the one training loop), structural (counts on the meta device), imagenet, small_vision,
superres and coco (shared recipes). A paper's stage (pipelines/<key>.py) imports from here, never from another paper.
"""
