provider "aws" {
  region = var.region
  default_tags {
    tags = { job_id = "fixture" }
  }
}

variable "region" {
  default = "ap-southeast-2"
}
