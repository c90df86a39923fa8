"""Label values every part of the package agrees on, kept apart from data, models and training so that
none of them imports another for a constant."""

#: mask value of pixels that count in no loss and no metric (e.g. the uncertain border of a Pets trimap)
IGNORE_INDEX = 255

#: the largest instance id: ids are written to 16-bit PNGs (``predict --instances``, ``instances/<stem>.png``)
MAX_INSTANCE_ID = 65535
