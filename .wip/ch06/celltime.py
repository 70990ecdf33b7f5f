import os, sys, time, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
c = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}})
times = []
with c.setup_kernel():
    for i, cell in enumerate(nb.cells):
        t = time.time()
        try:
            c.execute_cell(cell, i)
        finally:
            dt = time.time() - t
            times.append((dt, i, cell.source.splitlines()[0][:70] if cell.source else ""))
            if cell.cell_type == "code":
                print(f"=== [{i}] {dt:.1f}s {times[-1][2]}", flush=True)
                for o in cell.get("outputs", []):
                    if o.get("name") == "stderr":
                        print(f"STDERR: {o['text'][:500]}", flush=True)
                    elif o.get("output_type") == "stream":
                        print(o["text"][:2000], flush=True)
                    elif o.get("output_type") == "error":
                        print("ERROR", o.get("ename"), o.get("evalue")[:500], flush=True)
tot = sum(t for t, *_ in times)
print(f"total {tot:.1f}")
for t, i, s in sorted(times, reverse=True)[:15]:
    print(f"{t:6.1f} [{i}] {s}")
