# Kaggle-only targets (a paper project has no such file).
# What these targets read besides the Makefile's own (it refuses any other variable):
VARIABLES += FILE MSG YES WAIT
.PHONY: rules submit lb all kaggle-push kaggle-status kaggle-output

rules:  ## write RULES.md from the competition's metadata (your ticks kept)
	$(RUN) rules

submit:  ## validate and submit FILE (default: latest) with MSG, then wait for the score (FORCE=1: a file sent before)
	$(RUN) submit $(FILE) $(if $(MSG),-m "$(MSG)") $(if $(YES),--yes) $(if $(FORCE),--force)

lb:  ## CV vs public score of every logged submission; plot in submissions/cv_vs_lb.png
	$(RUN) lb

all: data train predict submit  ## data, train, predict, then submit (asks first; YES=1 skips)

kaggle-push:  ## run data, train, predict on Kaggle's GPU: push the project as a private kernel
	$(RUN) kaggle-push

kaggle-status:  ## the Kaggle kernel's state and failure message (WAIT=1 checks until it finishes)
	$(RUN) kaggle-status $(if $(WAIT),--wait)

kaggle-output:  ## fetch the Kaggle kernel's outputs and log into runs/kaggle-<kernel>-<time>/
	$(RUN) kaggle-output
