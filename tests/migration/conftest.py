"""The migration suite: Apache ZooKeeper's data imported into zkr and exported back, and a rolling
migration of a 3-node ensemble (see README.md, "Migrating from ZooKeeper")."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "support"))
sys.path.insert(0, os.path.join(HERE, "..", "kazoo"))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
