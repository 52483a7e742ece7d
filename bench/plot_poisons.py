"""Figure of a multi-class poison set: poisons per class and the most-weighted poison of each class
(docs/minmax-multiclass.md).  28 x 28 images in [0, 1] (mnist10, fmnist).

    python bench/plot_poisons.py POISONS.npz OUT.png "TITLE" [--names fmnist]

POISONS.npz: a poison set file (``X``, ``y``, ``weight``; ``convexpoison attack minmax --out``).
"""
import sys, numpy as np
import matplotlib; matplotlib.use("Agg")
import matplotlib.pyplot as plt
f = np.load(sys.argv[1]); X, y, w = f["X"], f["y"].astype(int), f["weight"]
k = 10
counts = np.array([w[y == c].sum() for c in range(k)])
fig = plt.figure(figsize=(10, 2.6))
ax = fig.add_axes([0.05, 0.18, 0.22, 0.68])
ax.bar(range(k), counts); ax.set_xticks(range(k)); ax.set_xlabel("poison label"); ax.set_ylabel("poisons")
ax.set_title("poisons per class", fontsize=8)
names = (["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"] if "--names" in sys.argv else [str(c) for c in range(k)])
for c in range(k):
    a = fig.add_axes([0.31 + c * 0.068, 0.42, 0.063, 0.4])
    a.axis("off")
    if np.any(y == c):
        i = np.flatnonzero(y == c)[np.argmax(w[y == c])]
        a.imshow(X[i].reshape(28, 28), cmap="gray", vmin=0, vmax=1)
    a.set_title(f"{c} {names[c]}" if names[c] != str(c) else f"y={c}", fontsize=6)
fig.suptitle(sys.argv[3], fontsize=9)
fig.savefig(sys.argv[2], dpi=100)
print(dict(enumerate(counts.tolist())))
