package search

import "strings"

// The search vocabulary of the field. A query word or phrase that belongs
// to a group also finds every other phrase of the group (same), and a
// group's broader term also finds its narrower ones (a search for MRI finds
// models that only say T1 or FLAIR; a search for T1 does not find every
// MRI model). related are one-way hints at a lower weight: a polyp is seen
// through an endoscope, so "polyp" also finds endoscopy models.
//
// Phrases are written as people write them; they are cut into words by the
// same rules as catalog text (so "x-ray", "x ray" and "xray" are one).
// These tables are used at query time only: editing them needs no index
// rebuild.
type synGroup struct {
	same     []string
	narrower []string
	related  []string
}

var synonymGroups = []synGroup{
	// Modalities.
	{same: []string{"mammography", "mammogram", "mammograms", "mammographic", "mmg", "ffdm",
		"full-field digital mammography", "digital mammography", "x-ray mammography", "breast x-ray"},
		narrower: []string{"mlo", "cc view", "craniocaudal", "mediolateral oblique"}},
	{same: []string{"chest x-ray", "cxr", "chest radiograph", "chest radiography", "chest xray",
		"thoracic x-ray", "thoracic xray", "lung x-ray", "lung xray"}},
	{same: []string{"x-ray", "radiograph", "radiography", "plain film", "roentgen"},
		narrower: []string{"cxr", "chest x-ray", "mammography", "mmg"}},
	{same: []string{"mri", "mr", "magnetic resonance", "magnetic resonance imaging", "nmr", "mr imaging"},
		narrower: []string{"t1", "t2", "t1-weighted", "t2-weighted", "t1c", "t1ce", "flair", "dce-mri", "dwi",
			"diffusion-weighted", "cine mri", "pd-weighted"}},
	{same: []string{"t1", "t1-weighted", "t1w"}},
	{same: []string{"t2", "t2-weighted", "t2w"}},
	{same: []string{"t1c", "t1ce", "t1 contrast", "t1-gd", "contrast-enhanced t1"}},
	{same: []string{"flair", "fluid-attenuated inversion recovery"}},
	{same: []string{"dce-mri", "dce mri", "dynamic contrast-enhanced mri", "dynamic contrast enhanced"}},
	{same: []string{"ct", "computed tomography", "cat scan", "ct scan"},
		narrower: []string{"cbct", "cone-beam ct", "low-dose ct", "ldct"}},
	{same: []string{"pet", "positron emission tomography"}},
	{same: []string{"ultrasound", "sonography", "ultrasonography", "echography", "usg"},
		narrower: []string{"echocardiography"}},
	{same: []string{"endoscopy", "endoscopic"},
		narrower: []string{"colonoscopy", "gastroscopy", "capsule endoscopy", "gastrointestinal endoscopy"}},
	{same: []string{"colonoscopy", "colonoscopic"}},
	{same: []string{"histopathology", "histology", "pathology", "whole slide image", "wsi", "h&e", "digital pathology"}},
	{same: []string{"dermoscopy", "dermatoscopy", "dermoscopic", "skin lesion image"}},
	{same: []string{"fundus", "fundus photography", "retinal fundus", "retinal photograph"}},
	{same: []string{"oct", "optical coherence tomography"}},
	{same: []string{"tomosynthesis", "dbt", "digital breast tomosynthesis"}},
	{same: []string{"cardiac imaging", "cardiography", "cardiac mri", "cardiac magnetic resonance", "cmr"}},

	// Anatomy.
	{same: []string{"breast", "breasts", "mammary"}},
	{same: []string{"lung", "lungs", "pulmonary"}},
	{same: []string{"chest", "thorax", "thoracic"}},
	{same: []string{"brain", "cerebral", "cranial", "intracranial", "neuro"}},
	{same: []string{"head", "skull"}, narrower: []string{"brain"}},
	{same: []string{"heart", "cardiac", "cardio", "myocardium"}},
	{same: []string{"colon", "colorectal", "bowel", "large intestine"}},
	{same: []string{"liver", "hepatic"}},
	{same: []string{"kidney", "kidneys", "renal"}},
	{same: []string{"prostate", "prostatic"}},
	{same: []string{"retina", "retinal", "eye", "ocular"}},
	{same: []string{"skin", "cutaneous", "dermal"}},
	{same: []string{"bone", "bones", "skeletal"}},
	{same: []string{"spine", "spinal", "vertebra", "vertebrae"}},
	{same: []string{"knee", "knees"}},
	{same: []string{"gastrointestinal", "gi tract", "digestive"}, narrower: []string{"colon", "stomach", "oesophagus"}},

	// Findings and what is generated.
	{same: []string{"mass", "masses", "tumour mass"}},
	{same: []string{"calcification", "calcifications", "microcalcification", "microcalcifications", "calc", "calcs"}},
	{same: []string{"nodule", "nodules", "lung nodule"}},
	{same: []string{"tumor", "tumour", "tumors", "tumours", "neoplasm", "cancer", "carcinoma", "malignancy"}},
	{same: []string{"lesion", "lesions"}, narrower: []string{"mass", "nodule", "tumor", "polyp", "calcification"}},
	{same: []string{"polyp", "polyps", "colorectal polyp"}, related: []string{"endoscopy", "colonoscopy"}},
	{same: []string{"roi", "region of interest", "regions of interest", "patch", "patches", "crop"}},
	{same: []string{"mask", "masks", "segmentation mask", "segmentation masks", "label map", "binary mask"}},
	{same: []string{"density", "breast density", "dense tissue"}},
	{same: []string{"aging", "ageing", "age"}},

	// Tasks and functions.
	{same: []string{"segmentation", "seg", "segment", "delineation"}},
	{same: []string{"classification", "clf", "classifier"}},
	{same: []string{"detection", "det", "localisation", "localization", "detector"}},
	{same: []string{"image-to-image", "i2i", "image translation", "translation", "domain translation",
		"domain-translation", "domain adaptation", "style transfer", "mask to image"}},
	{same: []string{"noise-to-image", "unconditional", "unconditional generation", "noise to image", "sampling"}},
	{same: []string{"inpainting", "inpaint", "image inpainting"}},
	{same: []string{"super-resolution", "super resolution", "sr", "upsampling"}},
	{same: []string{"synthesis", "generation", "synthetic", "generative"}},
	{same: []string{"augmentation", "data augmentation"}},
	{same: []string{"conditional", "class-conditional", "conditioned"}},

	// Architectures.
	{same: []string{"gan", "gans", "generative adversarial network", "generative adversarial networks"},
		narrower: []string{"dcgan", "wgan", "wgan-gp", "pggan", "cyclegan", "pix2pix", "pix2pixhd", "stylegan",
			"fastgan", "singan", "c-dcgan", "lsgan", "biggan"}},
	{same: []string{"dcgan", "deep convolutional gan", "deep convolutional generative adversarial network"}},
	{same: []string{"c-dcgan", "cdcgan", "conditional dcgan", "conditional deep convolutional gan"}},
	{same: []string{"wgan-gp", "wgangp", "wgan gp", "wasserstein gan with gradient penalty"}},
	{same: []string{"wgan", "wasserstein gan"}, narrower: []string{"wgan-gp"}},
	{same: []string{"pggan", "progan", "progressive gan", "progressively growing gan", "progressively-growing gan", "progressive growing of gans"}},
	{same: []string{"cyclegan", "cycle-gan", "cycle gan", "cycle-consistent gan"}},
	{same: []string{"pix2pix", "pix-2-pix", "conditional adversarial network"}, narrower: []string{"pix2pixhd"}},
	{same: []string{"stylegan", "style-gan"}, narrower: []string{"stylegan2", "stylegan3"}},
	{same: []string{"vae", "variational autoencoder", "variational auto-encoder"}},
	{same: []string{"diffusion", "diffusion model", "ddpm", "denoising diffusion", "score-based"},
		narrower: []string{"ldm", "latent diffusion", "ddim"}},

	// Licences.
	{same: []string{"gpl", "gnu general public license", "gnu gpl", "gnu general public licence", "gplv3", "gpl-3.0"}},
	{same: []string{"bsd", "bsd license", "bsd licence", "bsd-3-clause", "bsd 3-clause", "bsd-2-clause"}},
	{same: []string{"mit", "mit license", "mit licence"}},
	{same: []string{"apache", "apache-2.0", "apache 2.0", "apache license", "apache license 2.0"}},
	{same: []string{"cc-by", "creative commons attribution", "cc by 4.0", "cc-by-4.0"}},
	{same: []string{"cc-by-nc", "creative commons non-commercial", "cc-by-nc-4.0", "cc by-nc"}},

	// Data sets.
	{same: []string{"optimam", "omi-db", "optimam mammography image database"}},
	{same: []string{"cbis-ddsm", "curated breast imaging subset of ddsm"}},
	{same: []string{"ddsm", "digital database for screening mammography"}, narrower: []string{"cbis-ddsm"}},
	{same: []string{"hyperkvasir", "hyper-kvasir", "kvasir"}},
	{same: []string{"chestx-ray14", "chestxray14", "nih chest x-ray", "nih chestxray", "chest x-ray14"}},
	{same: []string{"uk biobank", "ukbb", "biobank"}},
	{same: []string{"brats", "brain tumor segmentation challenge", "brain tumour segmentation"}},
	{same: []string{"duke", "duke breast cancer mri", "duke-breast-cancer-mri"}},
	{same: []string{"crossmoda", "crossmoda 2021", "cross-moda"}},
}

// synRef is one phrase a group offers for a query phrase, with how it is
// related to it.
type synRef struct {
	words  []string // base words of the phrase
	phrase string   // as written in the table
	kind   string   // "synonym", "narrower" or "related"
}

var synIndex = func() map[string][]int {
	ix := map[string][]int{}
	for gi, g := range synonymGroups {
		for _, p := range g.same {
			for _, k := range phraseKeys(p) {
				if !containsInt(ix[k], gi) {
					ix[k] = append(ix[k], gi)
				}
			}
		}
	}
	return ix
}()

// synVocab is every single word of the tables, for typo correction of
// query words that a catalog may not contain literally.
var synVocab = func() []string {
	seen := map[string]bool{}
	var out []string
	for _, g := range synonymGroups {
		for _, list := range [][]string{g.same, g.narrower, g.related} {
			for _, p := range list {
				for _, w := range baseWords(p) {
					if !seen[w] {
						seen[w] = true
						out = append(out, w)
					}
				}
			}
		}
	}
	return out
}()

// phraseKeys are the lookup keys of a phrase: its base words joined by a
// space, and joined without one ("x ray" and "xray").
func phraseKeys(p string) []string {
	ws := baseWords(p)
	if len(ws) == 0 {
		return nil
	}
	a, b := strings.Join(ws, " "), strings.Join(ws, "")
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func containsInt(v []int, x int) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// synonymsOf returns the phrases related to the phrase with base words ws,
// excluding the phrase itself.
func synonymsOf(ws []string) []synRef {
	if len(ws) == 0 {
		return nil
	}
	keys := []string{strings.Join(ws, " "), strings.Join(ws, "")}
	self := map[string]bool{keys[0]: true, keys[1]: true}
	var groups []int
	for _, k := range keys {
		for _, gi := range synIndex[k] {
			if !containsInt(groups, gi) {
				groups = append(groups, gi)
			}
		}
	}
	seen := map[string]bool{}
	var out []synRef
	add := func(p, kind string) {
		w := baseWords(p)
		key := strings.Join(w, " ")
		if len(w) == 0 || seen[key] || self[key] || self[strings.Join(w, "")] {
			return
		}
		seen[key] = true
		out = append(out, synRef{words: w, phrase: p, kind: kind})
	}
	for _, gi := range groups {
		for _, p := range synonymGroups[gi].same {
			add(p, "synonym")
		}
	}
	for _, gi := range groups {
		for _, p := range synonymGroups[gi].narrower {
			add(p, "narrower")
		}
		for _, p := range synonymGroups[gi].related {
			add(p, "related")
		}
	}
	return out
}
