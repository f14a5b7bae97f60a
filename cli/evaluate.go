package cli

import (
	"github.com/urfave/cli/v2"
)

// evaluateProtocols are zoo evaluate's --protocol values, for completion
// in bin/zoo, which cannot import features (LibTorch); registry_torch_test
// holds them equal to features.Protocols.
var evaluateProtocols = []string{"zoo", "clean-fid", "pytorch-fid", "torch-fidelity"}

func evaluateCommand() *cli.Command {
	return &cli.Command{
		Name:  "evaluate",
		Usage: "compare synthetic images with real ones: FID, KID, precision/recall, FID ratio, memorization",
		UsageText: "zoo evaluate REAL FAKE [--metrics fid,kid,prdc,ratio,memorization|all] [--features NAME|FILE.pt] [--allow-unpinned]\n" +
			"   [--protocol zoo|clean-fid|pytorch-fid|torch-fidelity] [--normalize none|minmax|window:C,W]\n" +
			"   [--resize bilinear|nearest|none] [--skip-unreadable] [--no-cache]\n" +
			"   [--batch-size B] [--device auto|cpu|cuda:N] [--threads T] [--seed S] [--record] [--json]\n" +
			"   [--kid-subsets S] [--kid-subset-size N] [--prdc-k K]\n" +
			"   with a model id for REAL or FAKE: [-n N] [--condition NAME=VALUE]... [--output NAME]\n" +
			"   one shard of a cluster run: [--shard K/M] --partial PART\n" +
			"zoo evaluate merge PART... [--card FILE] [--json]",
		Description: "REAL and FAKE are folders of images (PNG 8/16-bit, JPEG, NPY, DICOM) or model ids: a model's\n" +
			"images are generated on the fly (-n, --seed, --condition) and never written to disk.\n" +
			"Features come from a TorchScript extractor run through LibTorch: a built-in name (inception-v3,\n" +
			"radimagenet-resnet50) or FILE.pt with its spec FILE.toml. Features are cached, keyed by the\n" +
			"files, the extractor's checksum and the preprocessing. Every result comes with a metric card:\n" +
			"extractor and checksum, protocol and preprocessing, image counts, set fingerprints, zoo version.\n\n" +
			"--protocol reproduces a reference's preprocessing, for numbers comparable with papers: clean-fid\n" +
			"(PIL bicubic per channel), pytorch-fid (bilinear without antialiasing), torch-fidelity (TF1\n" +
			"bilinear); each reads files as PIL's convert('RGB') does (16-bit PNGs lose bits: the card says\n" +
			"how many) and takes its reference's metric defaults (torch-fidelity: --prdc-k 3). zoo (the\n" +
			"default) keeps 16 bits and resizes with antialiasing (docs/evaluation.md).\n\n" +
			"Examples:\n" +
			"   zoo evaluate real/ fake/ --features extractors/inception-v3-random.pt\n" +
			"   zoo evaluate real/ 101 -n 2000 --metrics fid,kid --features x.pt --record\n" +
			"   zoo evaluate ct_real/ ct_fake/ --normalize window:40,400 --json\n\n" +
			"On a cluster, each of M jobs evaluates its shard of both sets and writes a partial file;\n" +
			"zoo evaluate merge joins them into the card one process would give (docs/scale.md):\n" +
			"   zoo evaluate real/ fake/ --features x.pt --shard 2/4 --partial parts/2.part\n" +
			"   zoo evaluate merge parts/*.part --card card.json\n" +
			"Without --shard, --partial takes the shard from a Slurm array or Kubernetes Indexed Job.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "metrics", Value: "fid,kid,prdc", Usage: "comma-separated: fid, kid, prdc, ratio, memorization (or all)"},
			&cli.StringFlag{Name: "features", Value: "inception-v3", Usage: "feature extractor: a built-in `NAME` or a TorchScript FILE.pt (with FILE.toml)"},
			&cli.StringFlag{Name: "protocol", Value: "zoo", Usage: "whose preprocessing: zoo, clean-fid, pytorch-fid or torch-fidelity (a reference's reading, resize and metric defaults)"},
			&cli.StringFlag{Name: "normalize", Value: "none", Usage: "map values onto [0,1]: none (the format's range), minmax (per image), window:CENTER,WIDTH (stored units, e.g. HU)"},
			&cli.StringFlag{Name: "resize", Usage: "override the extractor's resize: bilinear, nearest or none"},
			&cli.IntFlag{Name: "batch-size", Aliases: []string{"b"}, Value: 16, Usage: "images per forward pass (16: on CPU, Inception-v3 runs faster per image at 8-16 than at 32)", Action: intBetween("--batch-size", 1, 4096, "images per forward pass of the feature extractor")},
			deviceFlag(),
			threadsFlag(),
			&cli.IntFlag{Name: "n", Value: 1000, Usage: "images to generate when REAL or FAKE is a model id"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of generated images, KID subsets and the FID-ratio split"},
			&cli.IntFlag{Name: "kid-subsets", Value: 100, Usage: "KID: number of random subsets (mean ± std over them)", Action: intBetween("--kid-subsets", 1, 100000, "KID subsets")},
			&cli.IntFlag{Name: "kid-subset-size", Value: 1000, Usage: "KID: images per subset (each set's size when smaller)", Action: intBetween("--kid-subset-size", 2, 1<<20, "images per KID subset")},
			&cli.IntFlag{Name: "prdc-k", Value: 5, Usage: "PRDC: nearest neighbours k of the manifolds (each set needs more than k images; 3 with --protocol torch-fidelity)", Action: intBetween("--prdc-k", 1, 1000, "PRDC's k")},
			&cli.StringSliceFlag{Name: "condition", Aliases: []string{"c"}, Usage: "`NAME=VALUE` for a conditional model (repeatable; default a balanced mix)"},
			&cli.StringFlag{Name: "output", Usage: "which output of a multi-output model to evaluate (default the first image output)"},
			&cli.BoolFlag{Name: "skip-unreadable", Usage: "leave out unreadable images (listed on the card) instead of failing"},
			&cli.BoolFlag{Name: "no-cache", Usage: "neither read nor write the feature cache"},
			&cli.BoolFlag{Name: "allow-unpinned", Usage: "fetch a built-in extractor that has no published sha256, pinning it on first use"},
			&cli.BoolFlag{Name: "record", Usage: "record the results as measured metrics of the model (FAKE must be a model id), for zoo search --rank-by"},
			&cli.StringFlag{Name: "shard", Usage: "with --partial: evaluate shard `K/M` (0-based) of both sets (default from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)"},
			&cli.StringFlag{Name: "partial", Usage: "write this shard's features and exact statistics to `PART` for zoo evaluate merge, instead of a card"},
			&cli.StringFlag{Name: "card", Usage: "zoo evaluate merge: also write the card as JSON to `FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print the metric card as JSON"},
		},
		Action: runTorch,
	}
}
