"""The yardstick: a hand-written, lesson-1 style fastai script with every default left alone.

fastai's course trains its first model in four lines: data loaders from a folder,
a pretrained learner, `fine_tune`. bench/run.py times this beside the generated
baseline on the same images at the same size.
"""

from fastai.vision.all import ImageDataLoaders, Resize, accuracy, resnet18, vision_learner


def train(path, size, arch=resnet18, epochs=1, pretrained=True, cbs=None):
    """Lesson 1, on class folders under `path`; returns the Learner."""
    dls = ImageDataLoaders.from_folder(path, valid_pct=0.2, seed=42, item_tfms=Resize(size))
    learn = vision_learner(dls, arch, metrics=accuracy, pretrained=pretrained)
    learn.fine_tune(epochs, cbs=cbs)
    return learn
