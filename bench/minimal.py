"""The yardstick: a hand-written, lesson-1 style fastai script with every default left alone.

fastai's course trains its first model in four lines: data loaders from a folder,
a pretrained learner, `fine_tune`. bench/run.py runs this beside the generated
baseline on the same images at the same size, each in a fresh Python:

    python bench/minimal.py FOLDERS --size 64 --arch resnet18 --epochs 1

FOLDERS holds train/, valid/ and test/, each with a folder per class (MNIST_SAMPLE's shape, so
both sides validate on the same images). Prints one JSON line: validation accuracy and training
images/s, after predicting the test images.
"""

import argparse
import json
import time

import torchvision.models
from fastai.vision.all import Callback, ImageDataLoaders, Resize, accuracy, get_image_files, vision_learner


def train(path, size, arch, epochs=1, pretrained=True, cbs=None):
    """Lesson 1, on class folders under `path`/train and `path`/valid; returns the Learner."""
    dls = ImageDataLoaders.from_folder(path, train="train", valid="valid", item_tfms=Resize(size))
    learn = vision_learner(dls, arch, metrics=accuracy, pretrained=pretrained)
    learn.fine_tune(epochs, cbs=cbs)
    return learn


class Throughput(Callback):
    """Training images per second over the training phases only (validation excluded), like the baseline's."""

    images, seconds = 0, 0.0

    def before_train(self):
        self.start = time.perf_counter()

    def after_batch(self):
        if self.training:
            self.images += len(self.learn.yb[0])

    def after_train(self):
        self.seconds += time.perf_counter() - self.start


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("folders")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    timer = Throughput()
    learn = train(args.folders, args.size, getattr(torchvision.models, args.arch), args.epochs, cbs=[timer])
    with learn.no_bar():
        valid_accuracy = float(learn.validate()[1])
        preds, _ = learn.get_preds(dl=learn.dls.test_dl(get_image_files(f"{args.folders}/test")))
    print(json.dumps({"accuracy": valid_accuracy, "ips": timer.images / timer.seconds, "test": len(preds)}))
