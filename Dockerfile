# MAML from scratch: the demo, and Jupyter for walkthrough.ipynb.
#   docker build -t maml-from-scratch .
#   mkdir -p figures && docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/figures:/work/figures" maml-from-scratch
#   docker run --rm -p 8888:8888 maml-from-scratch jupyter notebook --ip 0.0.0.0 --no-browser
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/home/learner

# A non-root user (uid 1000) runs everything below.
RUN useradd --create-home --home-dir /home/learner --uid 1000 learner
WORKDIR /work

# Dependencies in their own layer: rebuilt only when a requirements file changes.
COPY requirements.txt requirements-notebook.txt ./
RUN pip install --no-cache-dir -r requirements.txt -r requirements-notebook.txt

COPY maml.py tasks.py checks.py files.py checkpoints.py cli.py figures.py demo_sinusoid.py \
     variants.py demo_variants.py protonets.py glyphs.py fewshot.py demo_fewshot.py threads.py \
     walkthrough.ipynb EXERCISES.md ./
COPY checkpoints/ ./checkpoints/
COPY exercises/ ./exercises/
# the committed results, which each demo prints beside a fresh run's
COPY docs/results.json ./docs/
COPY docs/fewshot/fewshot.json ./docs/fewshot/
RUN mkdir -p /work/figures && chown -R learner:learner /work

USER 1000:1000
EXPOSE 8888
# Writes adaptation.png, adaptation.gif, learning_curve.png, what_maml_learned.png, training.png
# and results.json to /work/figures: mount a folder of yours there to keep them.
CMD ["python", "demo_sinusoid.py", "--out", "figures"]
