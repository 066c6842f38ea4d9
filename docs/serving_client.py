"""A client of `make serve` (or of TF Serving itself, for the /v1/models routes): lists the served models,
classifies two reviews, and sends one lead of a WFDB record to /v1/ecg:analyze.

    .venv/bin/python docs/serving_client.py --url http://127.0.0.1:8501 --record ../shared/data/mitdb/208
"""

import argparse
import sys

import requests


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8501")
    parser.add_argument("--record", help="a WFDB record (path without extension) for /v1/ecg:analyze")
    args = parser.parse_args(argv)

    for name in ("sentiment", "ecg"):
        answer = requests.get(f"{args.url}/v1/models/{name}", timeout=10)
        print(name, answer.status_code, answer.json())

    reviews = ["the plot was not boring at all", "a dull, lifeless film"]
    answer = requests.post(f"{args.url}/v1/models/sentiment:predict", json={"instances": reviews}, timeout=30)
    if answer.status_code != 200:
        print("sentiment:", answer.json()["error"], file=sys.stderr)
        return 1
    for review, prediction in zip(reviews, answer.json()["predictions"], strict=True):
        print(f"{prediction['label']:>8} {prediction['positive_probability']:.3f}  {review}")

    if args.record:
        import wfdb

        record = wfdb.rdrecord(args.record)
        lead = record.sig_name.index("MLII") if "MLII" in record.sig_name else 0
        body = {"signal": record.p_signal[:, lead].tolist(), "sampling_rate": record.fs}
        answer = requests.post(f"{args.url}/v1/ecg:analyze", json=body, timeout=60)
        if answer.status_code != 200:
            print("ecg:", answer.json()["error"], file=sys.stderr)
            return 1
        result = answer.json()
        print("ecg:", result["beats_per_class"], f"{result['mean_heart_rate_bpm']} bpm,",
              f"{len(result['beats'])} beats; first: {result['beats'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
